/**
 * The S3 driver's parameters, named key for key after distribution's s3-aws driver
 * (`storage.s3.*`, docs/content/storage-drivers/s3.md), so one config file serves both. Only
 * the keys Quayside implements are here; config wiring (REGISTRY_STORAGE_S3_<KEY>) is done in
 * config/, not by the driver.
 */
export interface S3Params {
  /** Signing region; RGW accepts any, `us-east-1` is customary. */
  region: string;
  /** Endpoint of an S3-compatible service, e.g. `http://127.0.0.1:7480`; AWS when absent. */
  regionendpoint?: string;
  bucket: string;
  /** Falls back to AWS_ACCESS_KEY_ID when absent. */
  accesskey?: string;
  /** Falls back to AWS_SECRET_ACCESS_KEY when absent. */
  secretkey?: string;
  /** `endpoint/bucket/key` instead of `bucket.endpoint/key` (RGW, MinIO: true). */
  forcepathstyle?: boolean;
  /** Prefix of every key, as distribution: trimmed of slashes, then the path. */
  rootdirectory?: string;
  /** Multipart part size for uploads, bytes (≥ 5 MiB); used by the upload writer. */
  chunksize?: number;
  /** https unless false; a scheme in `regionendpoint` decides instead. Default true. */
  secure?: boolean;
  /** Accept any TLS certificate (test setups only). */
  skipverify?: boolean;
}

/** distribution's defaults: 10 MiB parts, and S3's own 5 MiB floor. */
export const DEFAULT_CHUNK_SIZE = 10 * 1024 * 1024;
export const MIN_CHUNK_SIZE = 5 * 1024 * 1024;
