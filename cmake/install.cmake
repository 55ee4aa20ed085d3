# Install layout (`cmake --install`, `make install PREFIX=...`).
#
#   include/lossplug/{abi,plugin,dist}.h (the SDK), include/lossplug/ext/model.h
#   include/lossplug/{host,registry,session,model,checkpoint,config,mlp,adam,
#                     train,rnn,comm}.h (the embedding API; host.h includes the rest)
#   lib/liblossplug.so*, lib/liblossplug.a            (no BLAS)
#   lib/liblossplug-train.so*, lib/liblossplug-train.a (OpenBLAS; needs liblossplug)
#   lib/lossplug/plugins/        built-in plugins (installed by plugins/)
#   bin/lossplug                 finds lib/ through its RUNPATH, from any prefix
#   lib/cmake/lossplug/          find_package(lossplug): lossplug::sdk,
#                                lossplug::lossplug, lossplug::lossplug_static,
#                                lossplug::lossplug_train,
#                                lossplug::lossplug_train_static,
#                                lossplug_add_plugin()
#   lib/liblossplug-mpi.so*     the Open MPI communicator (when built)
#   lib/pkgconfig/lossplug.pc, lossplug-train.pc, lossplug-sdk.pc, lossplug-mpi.pc
#   share/lossplug/plugin.map    the plugins' linker version script
#
# Every installed file locates the others relative to itself, so an install
# tree may be moved. Included last by the top-level CMakeLists.txt.
include(CMakePackageConfigHelpers)

set(LP_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/lossplug)
set(LP_INSTALL_DATADIR ${CMAKE_INSTALL_DATADIR}/lossplug)
set(LP_INSTALL_PKGCONFIGDIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

install(FILES
  ${PROJECT_SOURCE_DIR}/sdk/include/lossplug/abi.h
  ${PROJECT_SOURCE_DIR}/sdk/include/lossplug/plugin.h
  ${PROJECT_SOURCE_DIR}/sdk/include/lossplug/dist.h
  ${PROJECT_SOURCE_DIR}/host/include/lossplug/host.h
  ${PROJECT_SOURCE_DIR}/host/include/lossplug/registry.h
  ${PROJECT_SOURCE_DIR}/host/include/lossplug/session.h
  ${PROJECT_SOURCE_DIR}/host/include/lossplug/model.h
  ${PROJECT_SOURCE_DIR}/host/include/lossplug/checkpoint.h
  ${PROJECT_SOURCE_DIR}/host/include/lossplug/config.h
  ${PROJECT_SOURCE_DIR}/host/include/lossplug/mlp.h
  ${PROJECT_SOURCE_DIR}/host/include/lossplug/adam.h
  ${PROJECT_SOURCE_DIR}/host/include/lossplug/train.h
  ${PROJECT_SOURCE_DIR}/host/include/lossplug/comm.h
  ${PROJECT_SOURCE_DIR}/host/include/lossplug/rnn.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/lossplug)
# Extensions (CLAP-style, one header each).
install(FILES
  ${PROJECT_SOURCE_DIR}/sdk/include/lossplug/ext/model.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/lossplug/ext)

# Exported as lossplug::sdk, lossplug::lossplug, lossplug::lossplug_static,
# lossplug::lossplug_train, lossplug::lossplug_train_static.
set_target_properties(lossplug_sdk PROPERTIES EXPORT_NAME sdk)
install(TARGETS lossplug_sdk lossplug lossplug_static lossplug_train lossplug_train_static
  EXPORT lossplugTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# liblossplug.a holds its subsystems' objects but not the libraries they
# use, so the installed static targets name them for their users (libyaml:
# the config subsystem; zlib: checkpoints; OpenBLAS: the reference model of
# liblossplug-train.a). The shared libraries carry their own dependencies.
target_link_libraries(lossplug_static INTERFACE "$<INSTALL_INTERFACE:yaml;z;m>")
target_link_libraries(lossplug_train_static INTERFACE "$<INSTALL_INTERFACE:openblas;m>")
install(EXPORT lossplugTargets
  NAMESPACE lossplug::
  DESTINATION ${LP_INSTALL_CMAKEDIR})

install(TARGETS lossplug_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The plugin scanner, beside the library (host/scan/CMakeLists.txt).
install(TARGETS lossplug_scan RUNTIME DESTINATION ${CMAKE_INSTALL_LIBDIR}/lossplug)
# The plotter `lossplug plot` runs, beside it (host/plot/CMakeLists.txt).
install(TARGETS lossplug_plot RUNTIME DESTINATION ${CMAKE_INSTALL_LIBDIR}/lossplug)

# liblossplug-mpi (when built): its header, lossplug::lossplug_mpi in an
# export set of its own (find_package(lossplug) includes it when present),
# lossplug-mpi.pc.
if(TARGET lossplug_mpi)
  install(FILES ${PROJECT_SOURCE_DIR}/host/include/lossplug/comm_mpi.h
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/lossplug)
  install(TARGETS lossplug_mpi EXPORT lossplugMpiTargets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(EXPORT lossplugMpiTargets NAMESPACE lossplug:: DESTINATION ${LP_INSTALL_CMAKEDIR})
endif()

# What lossplug_add_plugin() needs once installed.
install(FILES ${PROJECT_SOURCE_DIR}/cmake/plugin.map DESTINATION ${LP_INSTALL_DATADIR})
install(FILES ${PROJECT_SOURCE_DIR}/cmake/LossplugPlugin.cmake DESTINATION ${LP_INSTALL_CMAKEDIR})

configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/lossplugConfig.cmake.in
  ${PROJECT_BINARY_DIR}/lossplugConfig.cmake
  INSTALL_DESTINATION ${LP_INSTALL_CMAKEDIR}
  PATH_VARS LP_INSTALL_DATADIR LP_INSTALL_PLUGINDIR CMAKE_INSTALL_INCLUDEDIR)
# 0.x: minor versions may break, so only the same minor is compatible.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/lossplugConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/lossplugConfig.cmake
  ${PROJECT_BINARY_DIR}/lossplugConfigVersion.cmake
  DESTINATION ${LP_INSTALL_CMAKEDIR})

# pkg-config files find the prefix from their own location (${pcfiledir}).
file(RELATIVE_PATH LP_PC_TO_PREFIX "/prefix/${LP_INSTALL_PKGCONFIGDIR}" "/prefix")
string(REGEX REPLACE "/$" "" LP_PC_TO_PREFIX "${LP_PC_TO_PREFIX}")
set(LP_PC_FILES lossplug lossplug-train lossplug-sdk)
if(TARGET lossplug_mpi)
  list(APPEND LP_PC_FILES lossplug-mpi)
endif()
foreach(pc ${LP_PC_FILES})
  configure_file(${PROJECT_SOURCE_DIR}/cmake/${pc}.pc.in ${PROJECT_BINARY_DIR}/${pc}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/${pc}.pc DESTINATION ${LP_INSTALL_PKGCONFIGDIR})
endforeach()
