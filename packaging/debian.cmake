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
#   /usr/share/doc/bitsync/examples/  (the sample manifests, linux-dropin.d/)
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

# --- docs and examples ------------------------------------------------------
file(GLOB _bs_samples ${CMAKE_SOURCE_DIR}/samples/*.yaml ${CMAKE_SOURCE_DIR}/samples/*.yml)
if(_bs_samples)
  install(FILES ${_bs_samples}
    DESTINATION share/doc/bitsync/examples PERMISSIONS ${_bs_file_mode})
endif()
if(IS_DIRECTORY ${CMAKE_SOURCE_DIR}/samples/linux-dropin.d)
  install(DIRECTORY ${CMAKE_SOURCE_DIR}/samples/linux-dropin.d
    DESTINATION share/doc/bitsync/examples
    FILE_PERMISSIONS ${_bs_file_mode}
    DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
    GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endif()
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
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libcurl4, libsmbclient, libssl3")
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
