# packaging/debian.cmake - the Debian package (design §8, issue 6):
#     cmake --build build --target package   ->  build/bitsync_<ver>-1_<arch>.deb
#
# Included at the end of the top-level CMakeLists.txt.  The install() rules
# describe the package's file system; they use Debian's absolute paths
# (/etc, /var/lib, /lib/systemd/system) because the package is the supported
# way to install bitsync on Linux.
#
# Layout:
#   /usr/bin/bitsync                                      0755
#   /lib/systemd/system/bitsync.service                   0644  not enabled
#   /etc/bitsync/                                         0755 root:root
#   /etc/bitsync/bitsync.ini                              0644  conffile
#   /etc/bitsync/manifest.d/                              0755 root:root
#   /etc/bitsync/credentials/                             0700 root:root
#   /var/lib/bitsync/                                     0750 root:root
#   /usr/share/man/man8/bitsync.8.gz, man5/bitsync.ini.5.gz, man5/bitsync-manifest.5.gz
#   /usr/share/bash-completion/completions/bitsync
#   /usr/share/doc/bitsync/examples/  (the sample manifests, linux-dropin.d/;
#       their yaml-language-server modeline points at the installed schema)
#   /usr/share/doc/bitsync/copyright (DEP-5), changelog.Debian.gz
#   /usr/share/bitsync/manifest.schema.json  (JSON Schema, for editors)
#   /usr/share/lintian/overrides/bitsync  (each override says why)
#
# Choices an administrator would ask about:
# - /usr/bin, not /usr/sbin: validate/plan/status are used by unprivileged
#   users and CI pipelines (Debian policy puts in sbin only what only root
#   needs).  The man page stays in section 8: the agent is a system service.
# - The unit is installed, never enabled or started by the package; postinst
#   only runs daemon-reload, and on upgrade try-restart (restarts the agent
#   only if the admin had it running, so it does not keep the old binary).
# - manifest.d and /etc/bitsync: root:root, writable by root only (design
#   section 7: the agent refuses anything others can write); credentials/
#   0700 (each credential file 0600); /var/lib/bitsync 0750.
# - purge deletes /var/lib/bitsync (state, job store, last-known-good
#   manifests) and the conffile; manifests and credentials an admin put in
#   /etc/bitsync are not the package's and stay (dpkg says so).

set(_bs_pkg ${CMAKE_CURRENT_LIST_DIR})
set(_bs_out ${CMAKE_BINARY_DIR}/packaging)

# Parent directories the install creates (/etc, /usr/share/...) get these
# modes whatever the builder's umask is.
set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
  OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
set(_bs_file_mode OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# --- the binary -------------------------------------------------------------
# /usr/bin, not /usr/sbin: validate, plan and status are for anyone -- CI
# pipelines and config-management runs check manifests as unprivileged users.
install(TARGETS bitsync RUNTIME DESTINATION bin)
# What dh_strip does beyond CPack's strip: drop the compiler's .comment
# section (lintian: binary-has-unneeded-section).  Runs after the binary is
# installed (and stripped, under CPack).
find_program(_bs_objcopy NAMES objcopy ${CMAKE_OBJCOPY})
if(_bs_objcopy)
  install(CODE "
set(_f \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/bin/bitsync\")
if(EXISTS \"\${_f}\")
  execute_process(COMMAND ${_bs_objcopy} --remove-section=.comment --remove-section=.note \"\${_f}\")
endif()
")
endif()

# --- system files: the unit, /etc/bitsync, /var/lib/bitsync -------------
# These live at absolute paths.  They are installed into a staging tree only
# (DESTDIR set: CPack, or `DESTDIR=/tmp/root cmake --install build`) or for
# prefix /usr; a plain `cmake --install build` into /usr/local never writes
# into the real /etc, /lib or /var behind the user's back.
file(MAKE_DIRECTORY ${_bs_out}/skel/manifest.d ${_bs_out}/skel/credentials
  ${_bs_out}/skel/bitsync)
set(_bs_755 "OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE")
string(REPLACE ";" " " _bs_644 "${_bs_file_mode}")
install(CODE "
if(\"\$ENV{DESTDIR}\" STREQUAL \"\" AND NOT CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
  message(STATUS \"bitsync: skipping the systemd unit, /etc/bitsync and /var/lib/bitsync (prefix \${CMAKE_INSTALL_PREFIX}, no DESTDIR); install the Debian package instead: cmake --build <build> --target package\")
else()
  file(INSTALL DESTINATION \"/lib/systemd/system\" TYPE FILE
    PERMISSIONS ${_bs_644} FILES \"${_bs_pkg}/systemd/bitsync.service\")
  # the conffile: every key, commented, at its default
  file(INSTALL DESTINATION \"/etc/bitsync\" TYPE FILE
    PERMISSIONS ${_bs_644} FILES \"${CMAKE_SOURCE_DIR}/samples/bitsync.ini\")
  file(INSTALL DESTINATION \"/etc/bitsync\" TYPE DIRECTORY
    DIR_PERMISSIONS ${_bs_755} FILES \"${_bs_out}/skel/manifest.d\")
  file(INSTALL DESTINATION \"/etc/bitsync\" TYPE DIRECTORY
    DIR_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE FILES \"${_bs_out}/skel/credentials\")
  # systemd's StateDirectoryMode= keeps it at 0750 too
  file(INSTALL DESTINATION \"/var/lib\" TYPE DIRECTORY
    DIR_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
    FILES \"${_bs_out}/skel/bitsync\")
endif()
")

# --- man pages (gzip -9n as Debian policy asks) and bash completion --------
set(_bs_man_gz)
foreach(_page bitsync.8 bitsync.ini.5 bitsync-manifest.5)
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" _sec ${_page})
  add_custom_command(OUTPUT ${_bs_out}/man/${_page}.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${_bs_out}/man
    COMMAND gzip -9n -c ${_bs_pkg}/man/${_page} > ${_bs_out}/man/${_page}.gz
    DEPENDS ${_bs_pkg}/man/${_page}
    COMMENT "Compressing man page ${_page}")
  list(APPEND _bs_man_gz ${_bs_out}/man/${_page}.gz)
  install(FILES ${_bs_out}/man/${_page}.gz
    DESTINATION share/man/man${_sec} PERMISSIONS ${_bs_file_mode})
endforeach()
add_custom_target(bitsync_man ALL DEPENDS ${_bs_man_gz})

install(FILES ${_bs_pkg}/bash-completion/bitsync
  DESTINATION share/bash-completion/completions PERMISSIONS ${_bs_file_mode})

# --- docs, examples, the schema ------------------------------------------------
# The JSON Schema where editors and pipelines find it on any installed host.
install(FILES ${CMAKE_SOURCE_DIR}/schema/manifest.schema.json
  DESTINATION share/bitsync PERMISSIONS ${_bs_file_mode})
# The samples' modeline names the schema relative to the source tree
# (../schema/...); the installed copies name the installed schema instead,
# or yaml-language-server says "Unable to load schema".
file(GLOB _bs_samples RELATIVE ${CMAKE_SOURCE_DIR}/samples
  ${CMAKE_SOURCE_DIR}/samples/*.yaml ${CMAKE_SOURCE_DIR}/samples/*.yml
  ${CMAKE_SOURCE_DIR}/samples/linux-dropin.d/*.yaml)
set(_bs_examples)
foreach(_s ${_bs_samples})
  add_custom_command(OUTPUT ${_bs_out}/examples/${_s}
    COMMAND ${CMAKE_COMMAND} -DIN=${CMAKE_SOURCE_DIR}/samples/${_s}
      -DOUT=${_bs_out}/examples/${_s} -P ${_bs_pkg}/modeline.cmake
    DEPENDS ${CMAKE_SOURCE_DIR}/samples/${_s} ${_bs_pkg}/modeline.cmake
    COMMENT "Example ${_s}: modeline to /usr/share/bitsync")
  list(APPEND _bs_examples ${_bs_out}/examples/${_s})
  get_filename_component(_d ${_s} DIRECTORY)
  install(FILES ${_bs_out}/examples/${_s}
    DESTINATION share/doc/bitsync/examples/${_d} PERMISSIONS ${_bs_file_mode})
endforeach()
# Debian's changelog, compressed as policy asks (gzip -9n: no name, no time)
add_custom_command(OUTPUT ${_bs_out}/changelog.Debian.gz
  COMMAND gzip -9n -c ${_bs_pkg}/debian/changelog > ${_bs_out}/changelog.Debian.gz
  DEPENDS ${_bs_pkg}/debian/changelog
  COMMENT "Compressing the Debian changelog")
add_custom_target(bitsync_docs ALL DEPENDS ${_bs_examples} ${_bs_out}/changelog.Debian.gz)
install(FILES ${_bs_pkg}/debian/copyright ${_bs_out}/changelog.Debian.gz
  DESTINATION share/doc/bitsync PERMISSIONS ${_bs_file_mode})
install(FILES ${_bs_pkg}/debian/lintian-overrides RENAME bitsync
  DESTINATION share/lintian/overrides PERMISSIONS ${_bs_file_mode})
if(EXISTS ${CMAKE_SOURCE_DIR}/README.md)
  install(FILES ${CMAKE_SOURCE_DIR}/README.md
    DESTINATION share/doc/bitsync PERMISSIONS ${_bs_file_mode})
endif()

# --- CPack ------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME bitsync)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_CONTACT "bitsync maintainers <maintainers@bitsync.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "declarative file-sync agent with BITS semantics")
# CPack puts the summary on the Description: line and indents these lines.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"bitsync keeps declared sets of remote files present on a machine. An
administrator writes a YAML manifest (these files from that SMB share or
HTTPS URL belong in this local folder) and the agent validates it and
transfers until the machine matches: resumable transfers, temporary files
committed whole, retry delays and no-progress timeouts as in Windows BITS.

This package contains the agent, its systemd unit (installed, not enabled),
the configuration in /etc/bitsync and the manual pages.")
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The engine dlopen()s libcurl and libsmbclient, and sha256.c libcrypto, on
# first use (so validate, plan and status start without them);
# dpkg-shlibdeps cannot see that.
# init-system-helpers: deb-systemd-helper and deb-systemd-invoke, which the
# maintainer scripts use (as debhelper's packages depend on it).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libcurl4, libsmbclient, libssl3, init-system-helpers (>= 1.54~)")
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${_bs_pkg}/debian/conffiles
  ${_bs_pkg}/debian/postinst
  ${_bs_pkg}/debian/prerm
  ${_bs_pkg}/debian/postrm)
# Only the .deb: no tarball of the build tree next to it.
set(CPACK_SOURCE_GENERATOR "")
include(CPack)
