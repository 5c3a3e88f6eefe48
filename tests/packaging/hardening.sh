#!/bin/sh
# hardening.sh BINARY - the root daemon is built hardened (CMakeLists.txt):
#   PIE          ELF type DYN (a position-independent executable)
#   full RELRO   a GNU_RELRO segment, and BIND_NOW / FLAGS_1 NOW in the
#                dynamic section (the GOT is read-only from the start)
#   stack        __stack_chk_fail imported (-fstack-protector-strong)
#   fortify      __*_chk functions of glibc imported (_FORTIFY_SOURCE=2)
# Prints what it found; exits 1 when anything is missing.
set -u
bin=${1:?usage: hardening.sh BINARY}
fail=0

check() {	# check NAME RESULT(0|1) DETAIL
	if [ "$2" -eq 0 ]; then
		echo "ok   $1: $3"
	else
		echo "FAIL $1: $3"
		fail=1
	fi
}

type=$(LC_ALL=C readelf -h "$bin" | sed -n 's/^ *Type: *\([A-Z]*\).*/\1/p')
[ "$type" = DYN ]; check pie $? "ELF type $type (want DYN)"

LC_ALL=C readelf -lW "$bin" | grep -q GNU_RELRO
check relro $? "GNU_RELRO segment"

dyn=$(LC_ALL=C readelf -dW "$bin")
echo "$dyn" | grep -Eq '\(BIND_NOW\)|\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*NOW'
check bind-now $? "BIND_NOW / FLAGS_1 NOW in the dynamic section"

syms=$(nm -D --undefined-only "$bin" 2>/dev/null)
echo "$syms" | grep -q ' __stack_chk_fail'
check stack-protector $? "__stack_chk_fail imported"

chk=$(echo "$syms" | grep -Eo ' __[a-z0-9_]+_chk(@.*)?$' | sed 's/@.*//' |
    sort -u | tr -d ' ' | tr '\n' ' ')
[ -n "$chk" ]; check fortify $? "fortified calls: ${chk:-none}"

exit $fail
