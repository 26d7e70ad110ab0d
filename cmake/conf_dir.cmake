# Where the conf lives for an install prefix: PREFIX/etc/pushrelay, or /etc/pushrelay for the
# /usr prefix (where GNUInstallDirs puts sysconfdir). Included by CMakeLists.txt at configure time,
# for the binary's compiled-in default conf, and by its install code, for where the example conf
# goes: one rule, so that an installed binary looks where its conf was put.
function(pushrelay_conf_dir prefix out_var)
  string(REGEX REPLACE "/+$" "" prefix "${prefix}")  # "/usr/" is /usr; "/" becomes "" (/etc)
  if(prefix STREQUAL "/usr")
    set(${out_var} "/etc/pushrelay" PARENT_SCOPE)
  else()
    set(${out_var} "${prefix}/etc/pushrelay" PARENT_SCOPE)
  endif()
endfunction()
