{
  "targets": [
    {
      "target_name": "kong_pump",
      "sources": ["native/pump.c", "native/udp.c", "native/tls.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
