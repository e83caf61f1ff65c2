{
  "targets": [
    {
      "target_name": "quayside_native",
      "sources": ["native/quayside.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
