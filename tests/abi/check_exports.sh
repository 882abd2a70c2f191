#!/bin/sh
# check_exports.sh DIR - for every *.so in DIR (the project's plugins):
#  - it exports exactly one dynamic function symbol, wfc_plugin_entry_v1;
#  - it references no host symbol (wfc_*: plugins reach the host only
#    through the services table);
#  - it references none of the process-global set-up functions that belong
#    to the host (Lessons 13): curl_global_*, json-c's global double format,
#    locale and signal handlers, running or closing the loop, OpenSSL
#    library-wide configuration;
#  - it does no HTTP of its own (curl_easy_perform, curl_multi_*: requests go
#    through api->http_send, so reuse, TLS settings and shutdown live in one
#    place) and creates no libuv handle of its own (uv_*_init, uv_close:
#    api->timer_start instead), because the host could not know when such a
#    handle's close callback, which is plugin code, has run before dlclose.
# Prints each offender; exits non-zero if there is one (or no plugin).
dir=${1:?usage: check_exports.sh DIR}
forbidden='^(curl_global_init|curl_global_init_mem|curl_global_cleanup|curl_global_sslset|curl_global_trace|json_c_set_serialization_double_format|setlocale|signal|sigaction|uv_run|uv_loop_close|uv_library_shutdown|uv_default_loop|OPENSSL_cleanup|OPENSSL_init_crypto|OPENSSL_init_ssl|CONF_modules_load_file|OSSL_PROVIDER_load|OSSL_LIB_CTX_set0_default|EVP_set_default_properties|curl_easy_perform|curl_multi_[a-z_]+|uv_[a-z_]+_init|uv_[a-z_]+_init_ex|uv_close)$'
found=0
bad=0
for so in "$dir"/*.so; do
  [ -e "$so" ] || continue
  found=$((found + 1))
  # "T" (and "W"/"i") are defined functions; data symbols do not count.
  funcs=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TtWi]$/ {print $3}')
  n=$(printf '%s\n' "$funcs" | grep -c .)
  undef=$(nm -D --undefined-only "$so" | awk '{print $2}' | sed 's/@.*//')
  host=$(printf '%s\n' "$undef" | grep -E '^wfc_')
  global=$(printf '%s\n' "$undef" | grep -E "$forbidden")
  if [ "$n" -ne 1 ] || [ "$funcs" != "wfc_plugin_entry_v1" ]; then
    echo "FAIL $so exports $n functions:" $funcs
    bad=$((bad + 1))
  elif [ -n "$host" ]; then
    echo "FAIL $so references host symbols:" $host
    bad=$((bad + 1))
  elif [ -n "$global" ]; then
    echo "FAIL $so calls what only the host may (global set-up, own HTTP or loop handles):" $global
    bad=$((bad + 1))
  else
    echo "ok   $so"
  fi
done
if [ "$found" -eq 0 ]; then
  echo "no plugin found in $dir"
  exit 1
fi
[ "$bad" -eq 0 ]
