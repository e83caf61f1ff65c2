{
  "targets": [
    {
      "target_name": "quayside_sha256",
      "sources": ["native/sha256.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
