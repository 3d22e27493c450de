# Finds OpenCV's C++ libraries. Uses OpenCV's own CMake config when one is
# installed (libopencv-dev, a source build); otherwise looks for the headers
# and the libraries of each requested module, which is all Debian's
# per-module packages (libopencv-<module>-dev) provide.
#
# Sets OpenCV_FOUND, OpenCV_VERSION, OpenCV_INCLUDE_DIRS and an imported
# target opencv_<module> for each requested component.

find_package(OpenCV CONFIG QUIET COMPONENTS ${OpenCV_FIND_COMPONENTS})
if(OpenCV_FOUND)
  return()
endif()

find_path(OpenCV_INCLUDE_DIR opencv2/core.hpp PATH_SUFFIXES opencv4)
set(OpenCV_VERSION "")
if(OpenCV_INCLUDE_DIR AND EXISTS "${OpenCV_INCLUDE_DIR}/opencv2/core/version.hpp")
  file(STRINGS "${OpenCV_INCLUDE_DIR}/opencv2/core/version.hpp" _cv_version_lines
       REGEX "#define CV_VERSION_(MAJOR|MINOR|REVISION) ")
  foreach(_part MAJOR MINOR REVISION)
    string(REGEX REPLACE ".*#define CV_VERSION_${_part} +([0-9]+).*" "\\1" _cv_${_part} "${_cv_version_lines}")
  endforeach()
  set(OpenCV_VERSION "${_cv_MAJOR}.${_cv_MINOR}.${_cv_REVISION}")
endif()

set(_cv_required OpenCV_INCLUDE_DIR)
foreach(_module ${OpenCV_FIND_COMPONENTS})
  find_library(OpenCV_${_module}_LIBRARY NAMES opencv_${_module})
  find_path(OpenCV_${_module}_HEADER opencv2/${_module}.hpp PATHS "${OpenCV_INCLUDE_DIR}" NO_DEFAULT_PATH)
  if(OpenCV_${_module}_LIBRARY AND OpenCV_${_module}_HEADER)
    set(OpenCV_${_module}_FOUND TRUE)
    if(NOT TARGET opencv_${_module})
      add_library(opencv_${_module} UNKNOWN IMPORTED)
      set_target_properties(opencv_${_module} PROPERTIES
        IMPORTED_LOCATION "${OpenCV_${_module}_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${OpenCV_INCLUDE_DIR}")
    endif()
  else()
    set(OpenCV_${_module}_FOUND FALSE)
  endif()
endforeach()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(OpenCV
  REQUIRED_VARS ${_cv_required}
  VERSION_VAR OpenCV_VERSION
  HANDLE_COMPONENTS)
set(OpenCV_INCLUDE_DIRS "${OpenCV_INCLUDE_DIR}")
