# wfc-plugin.cmake - wfc_add_plugin(), the one way to build a wfc plugin.
# Used by the source tree and installed with the CMake package
# (find_package(wfc) includes it), so a plugin built out of tree gets the
# same settings as the project's own.
#
#   wfc_add_plugin(TARGET [MANIFEST FILE] [INSTALL [DESTINATION DIR]]
#                  SOURCES...)
#
# - a MODULE library named TARGET.so (no "lib" prefix) that links wfc::plugin
#   (the headers only: a plugin reaches the host through the services table,
#   never through a host symbol);
# - hidden visibility, so the one symbol WFC_PLUGIN_DEFINE exports is the
#   only one; -Wl,--no-undefined, so a reference the plugin cannot resolve
#   (a host symbol, a missing library) fails the link, not the dlopen;
# - MANIFEST: copied beside the module as TARGET.manifest.json (where `wfc`
#   looks for it) and checked after each build with `wfc plugin check`
#   (target TARGET-check, part of ALL), which loads the module in a child
#   process and fails the build when the exports, ABI, fingerprint, schemas
#   or manifest do not match (the module stays, to be inspected);
# - INSTALL: `cmake --install` puts the module (and its manifest) in DIR,
#   by default WFC_PLUGIN_INSTALL_DIR: the plugin directory of the wfc the
#   package belongs to, where that wfc finds it with no settings.
#
# Variables read (set by the package or the source tree):
#   WFC_EXECUTABLE              the `wfc` that checks the manifest
#   WFC_EXECUTABLE_TARGET       its target, when built in the same tree
#   WFC_PLUGIN_INSTALL_DIR      default INSTALL destination
#   WFC_PLUGIN_OUTPUT_DIRECTORY where modules are built (optional)
#   WFC_SANITIZE                sanitized builds leave __asan_* undefined
function(wfc_add_plugin target)
  cmake_parse_arguments(P "INSTALL" "MANIFEST;DESTINATION" "" ${ARGN})
  if(NOT P_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "wfc_add_plugin(${target}): no source files")
  endif()
  add_library(${target} MODULE ${P_UNPARSED_ARGUMENTS})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(WFC_PLUGIN_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES
      LIBRARY_OUTPUT_DIRECTORY ${WFC_PLUGIN_OUTPUT_DIRECTORY})
  endif()
  target_link_libraries(${target} PRIVATE wfc::plugin)
  if(NOT WFC_SANITIZE)
    # Sanitizer runtimes are provided by the host executable, so a sanitized
    # plugin legitimately has undefined __asan_* references.
    target_link_options(${target} PRIVATE -Wl,--no-undefined)
  endif()
  target_link_options(${target} PRIVATE -Wl,-z,relro,-z,now)

  set(dest ${WFC_PLUGIN_INSTALL_DIR})
  if(P_DESTINATION)
    set(dest ${P_DESTINATION})
  endif()
  if(P_INSTALL)
    if(NOT dest)
      message(FATAL_ERROR "wfc_add_plugin(${target} INSTALL): no DESTINATION "
                          "and no WFC_PLUGIN_INSTALL_DIR")
    endif()
    install(TARGETS ${target} LIBRARY DESTINATION ${dest})
  endif()

  if(P_MANIFEST)
    get_filename_component(manifest ${P_MANIFEST} ABSOLUTE)
    if(NOT EXISTS ${manifest})
      message(FATAL_ERROR "wfc_add_plugin(${target}): no manifest ${manifest}")
    endif()
    add_custom_command(TARGET ${target} POST_BUILD
      COMMAND ${CMAKE_COMMAND} -E copy_if_different ${manifest}
              $<TARGET_FILE_DIR:${target}>/${target}.manifest.json
      VERBATIM)
    if(WFC_EXECUTABLE)
      # The check is a step of its own after the module's link, not a
      # POST_BUILD command: a failed check fails the build but leaves the
      # module in place, so that `plugin/update-manifest` (or the author)
      # can inspect it and bring the manifest up to date.
      set(stamp ${CMAKE_CURRENT_BINARY_DIR}/${target}.manifest-checked)
      set(deps ${target} ${manifest})
      if(WFC_EXECUTABLE_TARGET)
        list(APPEND deps ${WFC_EXECUTABLE_TARGET})
      endif()
      add_custom_command(OUTPUT ${stamp}
        COMMAND ${CMAKE_COMMAND} -E copy_if_different ${manifest}
                $<TARGET_FILE_DIR:${target}>/${target}.manifest.json
        COMMAND ${WFC_EXECUTABLE} plugin check $<TARGET_FILE:${target}>
                --manifest ${manifest}
        COMMAND ${CMAKE_COMMAND} -E touch ${stamp}
        DEPENDS ${deps}
        COMMENT "Checking ${target} against ${P_MANIFEST}"
        VERBATIM)
      add_custom_target(${target}-check ALL DEPENDS ${stamp})
    endif()
    if(P_INSTALL)
      install(FILES ${manifest} DESTINATION ${dest}
              RENAME ${target}.manifest.json)
    endif()
  endif()
endfunction()
