/*
 * quayside_native: the three things Quayside wants from C.
 *
 * 1. SHA-256 with a serializable state, over the OpenSSL that Node already links.
 *
 * SHA256_CTX is plain data (h[8], Nl, Nh, data[16], num, md_len: 112 bytes), so the JS side
 * keeps the context in its own Uint8Array and converts it to the shared checkpoint format
 * (src/digest/native-engine.ts). Node exports OpenSSL's symbols to addons, so nothing links
 * against a second copy. SHA256_* are deprecated in OpenSSL 3 in favour of EVP, whose context
 * is opaque and cannot be saved: the deprecated API is the one that fits a resumable hash.
 *
 * 2. address_mod(bytes, m): where a typed array's memory sits modulo m. O_DIRECT writes need
 *    the buffer's address aligned to the device block; JavaScript cannot see addresses, so the
 *    batch buffers (src/uploads/batch-buffers.ts) ask here and place their views accordingly.
 *
 * 3. copy(...): a plain memcpy of upload body chunks into the batch buffers, which are
 *    SharedArrayBuffers (see copy() below for why V8's own copy is not used).
 */
#include <stdint.h>
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <node_api.h>
#include <openssl/sha.h>
#include <string.h>

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "quayside_native: " #call " failed"); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

/* Reads argument i as a byte view; returns 0 and throws when it is not one. */
static int bytes_arg(napi_env env, napi_value value, unsigned char **data, size_t *length) {
  bool is_typed = false;
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) {
    napi_throw_type_error(env, NULL, "expected a Uint8Array");
    return 0;
  }
  if (napi_get_typedarray_info(env, value, &type, length, (void **)data, &buffer, &offset) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "expected a Uint8Array");
    return 0;
  }
  return 1;
}

static int ctx_arg(napi_env env, napi_value value, unsigned char **ctx) {
  size_t length;
  if (!bytes_arg(env, value, ctx, &length)) return 0;
  if (length != sizeof(SHA256_CTX)) {
    napi_throw_range_error(env, NULL, "context must be sizeof(SHA256_CTX) bytes");
    return 0;
  }
  return 1;
}

/* init(ctx): starts a fresh hash in ctx. */
static napi_value init(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  unsigned char *ctx;
  SHA256_CTX c;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !ctx_arg(env, argv[0], &ctx)) return NULL;
  SHA256_Init(&c);
  memcpy(ctx, &c, sizeof c);
  return NULL;
}

/* update(ctx, bytes): hashes bytes into ctx. A copy in and out keeps alignment no concern of JS. */
static napi_value update(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  unsigned char *ctx, *data;
  size_t length;
  SHA256_CTX c;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || !ctx_arg(env, argv[0], &ctx) || !bytes_arg(env, argv[1], &data, &length)) return NULL;
  memcpy(&c, ctx, sizeof c);
  SHA256_Update(&c, data, length);
  memcpy(ctx, &c, sizeof c);
  return NULL;
}

/* final(ctx, out32): writes the digest; ctx is spent. */
static napi_value final(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  unsigned char *ctx, *out;
  size_t length;
  SHA256_CTX c;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || !ctx_arg(env, argv[0], &ctx) || !bytes_arg(env, argv[1], &out, &length)) return NULL;
  if (length != SHA256_DIGEST_LENGTH) {
    napi_throw_range_error(env, NULL, "digest output must be 32 bytes");
    return NULL;
  }
  memcpy(&c, ctx, sizeof c);
  SHA256_Final(out, &c);
  memcpy(ctx, &c, sizeof c);
  return NULL;
}

/* address_mod(bytes, m): (address of bytes[0]) % m. */
static napi_value address_mod(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  unsigned char *data;
  size_t length;
  uint32_t m;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || !bytes_arg(env, argv[0], &data, &length)) return NULL;
  CHECK(napi_get_value_uint32(env, argv[1], &m));
  if (m == 0) {
    napi_throw_range_error(env, NULL, "modulus must be positive");
    return NULL;
  }
  CHECK(napi_create_uint32(env, (uint32_t)((uintptr_t)data % m), &result));
  return result;
}

/*
 * copy(target, targetOffset, source, sourceStart, sourceEnd): memcpy of source[sourceStart,
 * sourceEnd) into target at targetOffset. V8 copies into a SharedArrayBuffer with relaxed atomic
 * word moves (another thread could be reading it); a profile of 8 parallel uploads showed that
 * copy at 16 % of the server's CPU. Batch buffers are only ever filled before a worker sees
 * them, so a plain memcpy is safe here.
 */
static napi_value copy(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  unsigned char *target, *source;
  size_t target_length, source_length;
  int64_t at, start, end;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5 || !bytes_arg(env, argv[0], &target, &target_length) || !bytes_arg(env, argv[2], &source, &source_length)) {
    if (argc < 5) napi_throw_type_error(env, NULL, "copy(target, targetOffset, source, sourceStart, sourceEnd)");
    return NULL;
  }
  CHECK(napi_get_value_int64(env, argv[1], &at));
  CHECK(napi_get_value_int64(env, argv[3], &start));
  CHECK(napi_get_value_int64(env, argv[4], &end));
  if (start < 0 || end < start || (uint64_t)end > source_length || at < 0 || (uint64_t)at + (uint64_t)(end - start) > target_length) {
    napi_throw_range_error(env, NULL, "copy out of bounds");
    return NULL;
  }
  memcpy(target + at, source + start, (size_t)(end - start));
  return NULL;
}

static napi_value module_init(napi_env env, napi_value exports) {
  napi_value fn, size;
  CHECK(napi_create_function(env, "addressMod", NAPI_AUTO_LENGTH, address_mod, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "addressMod", fn));
  CHECK(napi_create_function(env, "copy", NAPI_AUTO_LENGTH, copy, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "copy", fn));
  CHECK(napi_create_function(env, "init", NAPI_AUTO_LENGTH, init, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "init", fn));
  CHECK(napi_create_function(env, "update", NAPI_AUTO_LENGTH, update, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "update", fn));
  CHECK(napi_create_function(env, "final", NAPI_AUTO_LENGTH, final, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "final", fn));
  CHECK(napi_create_uint32(env, (uint32_t)sizeof(SHA256_CTX), &size));
  CHECK(napi_set_named_property(env, exports, "contextSize", size));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, module_init)
