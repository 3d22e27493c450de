// fastinfer._core: the classify functions (argument checks, GIL release, registration).
#include "common.hpp"

namespace fastinfer::bindings {

void bind_classify(py::module_& m) { (void)m; }

}  // namespace fastinfer::bindings
