# cmake/install.cmake - what `cmake --install` puts where, relocatable (the
# prefix can be moved: RUNPATH, plugin directory, CMake package and
# pkg-config files are all relative to where they are):
#
#   bin/wfc                     RUNPATH $ORIGIN/../lib (libwfc)
#   bin/m365-emulator           (WFC_BUILD_EMULATOR)
#   lib/libwfc.so.1             SOVERSION = plugin ABI major
#   lib/wfc/wfc-store-pg.so     the PostgreSQL store backend (libpq),
#                               dlopen()ed by libwfc from its own directory
#                               + wfc/ when a PostgreSQL store is opened
#   include/wfc/*.h
#   lib/wfc/plugins/wfc-o365mail.so + .manifest.json   (WFC_BUILD_PLUGIN)
#   lib/cmake/wfc/              find_package(wfc): wfc::host, wfc::plugin,
#                               wfc_add_plugin()
#   lib/pkgconfig/wfc-host.pc, wfc-plugin.pc
#   share/doc/wfc/              README.md and docs/*.md
#
# (lib is CMAKE_INSTALL_LIBDIR.) docs/plugin-authors.md and docs/hosts.md
# use each of them; tests/install builds examples/ against it.
include(CMakePackageConfigHelpers)

# From bin/ to lib/ and lib/wfc/plugins, for wfc's RUNPATH and the
# directory it reads plugins from (cli/util.c).
file(RELATIVE_PATH wfc_bin_to_lib ${CMAKE_INSTALL_FULL_BINDIR}
     ${CMAKE_INSTALL_FULL_LIBDIR})
file(RELATIVE_PATH wfc_bin_to_plugins ${CMAKE_INSTALL_FULL_BINDIR}
     ${CMAKE_INSTALL_PREFIX}/${WFC_PLUGIN_INSTALL_DIR})
set_target_properties(wfc-cli PROPERTIES
  INSTALL_RPATH "$ORIGIN/${wfc_bin_to_lib}")
target_compile_definitions(wfc-cli PRIVATE
  WFC_CLI_INSTALLED_PLUGIN_DIR="${wfc_bin_to_plugins}")

install(TARGETS wfc wfc_plugin_headers EXPORT wfcTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# Where libwfc looks for it (sdk/store_pg_load.c): <its dir>/wfc/.
install(TARGETS wfc-store-pg
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/wfc)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/wfc
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS wfc-cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET m365-emulator)
  install(TARGETS m365-emulator RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
if(TARGET wfc-o365mail)
  install(TARGETS wfc-o365mail LIBRARY DESTINATION ${WFC_PLUGIN_INSTALL_DIR})
  install(FILES ${PROJECT_SOURCE_DIR}/manifest.json
    DESTINATION ${WFC_PLUGIN_INSTALL_DIR}
    RENAME wfc-o365mail.manifest.json)
endif()
install(FILES ${PROJECT_SOURCE_DIR}/README.md
  DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/
  DESTINATION ${CMAKE_INSTALL_DOCDIR} FILES_MATCHING PATTERN "*.md")

# The CMake package: lib/cmake/wfc.
set(wfc_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/wfc)
install(EXPORT wfcTargets NAMESPACE wfc:: FILE wfc-targets.cmake
  DESTINATION ${wfc_cmake_dir})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/wfc-config.cmake.in
  ${CMAKE_BINARY_DIR}/cmake/wfc-config.cmake
  INSTALL_DESTINATION ${wfc_cmake_dir}
  PATH_VARS CMAKE_INSTALL_BINDIR WFC_PLUGIN_INSTALL_DIR)
write_basic_package_version_file(
  ${CMAKE_BINARY_DIR}/cmake/wfc-config-version.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/cmake/wfc-config.cmake
  ${CMAKE_BINARY_DIR}/cmake/wfc-config-version.cmake
  ${PROJECT_SOURCE_DIR}/cmake/wfc-plugin.cmake
  DESTINATION ${wfc_cmake_dir})

# pkg-config: prefix relative to the .pc file (${pcfiledir}), so the files
# stay right wherever the prefix is installed or moved.
file(RELATIVE_PATH wfc_pc_to_prefix ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig
     ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" wfc_pc_to_prefix "${wfc_pc_to_prefix}")
set(WFC_PC_PREFIX "\${pcfiledir}/${wfc_pc_to_prefix}")
# The include directories of the headers plugin.h includes (not their
# libraries: a plugin links no host symbol).
set(WFC_PC_DEP_CFLAGS)
foreach(d ${UV_INCLUDE_DIRS} ${CURL_INCLUDE_DIRS} ${JSONC_INCLUDE_DIRS}
          ${SSL_INCLUDE_DIRS})
  if(d IN_LIST CMAKE_C_IMPLICIT_INCLUDE_DIRECTORIES OR d IN_LIST seen)
    continue()
  endif()
  list(APPEND seen ${d})
  string(APPEND WFC_PC_DEP_CFLAGS " -I${d}")
endforeach()
string(STRIP "${WFC_PC_DEP_CFLAGS}" WFC_PC_DEP_CFLAGS)
foreach(pc wfc-host wfc-plugin)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/${pc}.pc.in
    ${CMAKE_BINARY_DIR}/cmake/${pc}.pc @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/cmake/${pc}.pc
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()
