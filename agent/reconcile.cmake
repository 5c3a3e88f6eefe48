# Reconciliation (design §4): spec hashing, recorded state, the planner,
# local observations.  Included from agent/CMakeLists.txt after the core
# and the bitsync executable are defined.
if(NOT TARGET PkgConfig::BSR_CRYPTO)
  pkg_check_modules(BSR_CRYPTO REQUIRED IMPORTED_TARGET libcrypto)
endif()
find_package(Threads REQUIRED)
if(NOT TARGET PkgConfig::BSR_SQLITE3)
  pkg_check_modules(BSR_SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
endif()

add_library(bitsync_reconcile STATIC
  ${CMAKE_CURRENT_LIST_DIR}/sha256.c
  ${CMAKE_CURRENT_LIST_DIR}/spec.c
  ${CMAKE_CURRENT_LIST_DIR}/state.c
  ${CMAKE_CURRENT_LIST_DIR}/plan.c
  ${CMAKE_CURRENT_LIST_DIR}/recheck.c
  ${CMAKE_CURRENT_LIST_DIR}/observe.c
  ${CMAKE_CURRENT_LIST_DIR}/mcache.c
  ${CMAKE_CURRENT_LIST_DIR}/command.c
  ${CMAKE_CURRENT_LIST_DIR}/posix/command_proc_posix.c
)
target_include_directories(bitsync_reconcile PUBLIC ${CMAKE_CURRENT_LIST_DIR})
# libcrypto: its headers only; sha256.c loads the library on first use.
target_include_directories(bitsync_reconcile PRIVATE ${BSR_CRYPTO_INCLUDE_DIRS})
target_link_libraries(bitsync_reconcile PUBLIC bitsync_core bitsync_db
  PkgConfig::BSR_SQLITE3 Threads::Threads ${CMAKE_DL_LIBS})

# The reconciler proper needs a backend: bk_guid_format and friends live
# with the backends (backend.c).
target_sources(bitsync_reconcile PRIVATE ${CMAKE_CURRENT_LIST_DIR}/reconcile.c
  ${CMAKE_CURRENT_LIST_DIR}/reconcile_folder.c
  ${CMAKE_CURRENT_LIST_DIR}/jobsplit.c)
if(TARGET bitsync_engine)
  target_link_libraries(bitsync_reconcile PUBLIC bitsync_engine)
endif()

# plan, apply, run and status, in the bitsync binary.
if(TARGET bitsync)
  target_sources(bitsync PRIVATE
    ${CMAKE_CURRENT_LIST_DIR}/reconcile_session.c
    ${CMAKE_CURRENT_LIST_DIR}/backends.c
    ${CMAKE_CURRENT_LIST_DIR}/cmd_plan.c
    ${CMAKE_CURRENT_LIST_DIR}/cmd_apply.c
    ${CMAKE_CURRENT_LIST_DIR}/posix/run_posix.c
    ${CMAKE_CURRENT_LIST_DIR}/daemon.c
    ${CMAKE_CURRENT_LIST_DIR}/cmd_status.c
    ${CMAKE_CURRENT_LIST_DIR}/status.c)
  target_link_libraries(bitsync PRIVATE bitsync_reconcile)
  # backends.c's table: the backends this build carries (design §1).
  if(TARGET bitsync_engine)
    target_compile_definitions(bitsync PRIVATE BITSYNC_HAVE_ENGINE=1)
  endif()
endif()
