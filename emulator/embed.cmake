# cmake -DIN=file -DOUT=header -P embed.cmake: writes the file as a
# NUL-terminated unsigned char array emu_default_tenant_json[].
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT}
  "/* Generated from examples/tenant.json by embed.cmake. */\n"
  "static const unsigned char emu_default_tenant_json[] = {${bytes}0x00};\n")
