// fastinfer._core: the ssd functions (argument checks, GIL release, registration).
#include "common.hpp"

namespace fastinfer::bindings {

void bind_ssd(py::module_& m) { (void)m; }

}  // namespace fastinfer::bindings
