{
  "targets": [
    {
      "target_name": "dari_turn_native",
      "sources": ["native/fp_table.c", "native/fastpath.c", "native/engine.c", "native/addon.c", "native/addon_methods.c", "native/addon_module.c"],
      "cflags": ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    }
  ]
}
