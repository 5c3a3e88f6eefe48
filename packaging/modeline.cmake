# cmake -DIN=sample.yaml -DOUT=installed.yaml -P modeline.cmake
# Copies a sample manifest, pointing its yaml-language-server modeline at
# the schema the Debian package installs (/usr/share/bitsync).
file(READ "${IN}" _text)
string(REGEX REPLACE "(# yaml-language-server: \\$schema=)[^\n]*manifest\\.schema\\.json"
  "\\1/usr/share/bitsync/manifest.schema.json" _text "${_text}")
file(WRITE "${OUT}" "${_text}")
