# Fails the configure when debian/changelog's top entry is not for the project's version, so that
# `make deb` never builds a package whose name and `pushrelay -V` disagree. The Debian version may
# add to the upstream one (0.1.0-1, 0.1.0+local1, 0.1.0~rc1) but not change it; an epoch is
# ignored.
function(pushrelay_check_changelog_version changelog version)
  file(STRINGS "${changelog}" top LIMIT_COUNT 1)
  if(NOT top MATCHES "^pushrelay \\(([0-9]+:)?([^) ]+)\\)")
    message(FATAL_ERROR "${changelog}: the first line is not a pushrelay changelog entry: ${top}")
  endif()
  set(debian_version "${CMAKE_MATCH_2}")
  string(REGEX MATCH "^[0-9.]+" upstream "${debian_version}")
  if(NOT upstream STREQUAL version)
    message(FATAL_ERROR "${changelog}: the top entry is for ${debian_version}, the project is "
            "${version} (project(VERSION) in CMakeLists.txt): give both the same version")
  endif()
endfunction()
