# cmake -DIN=file -DOUT=header -DVAR=name -P embed.cmake: writes the file as
# a NUL-terminated `static const unsigned char <VAR>[]` (the OpenAPI extract,
# embedded so the emulator needs no data file at run time).
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT}
  "/* Generated from ${IN} by emulator/openapi/embed.cmake. */\n"
  "static const unsigned char ${VAR}[] = {${bytes}0x00};\n")
