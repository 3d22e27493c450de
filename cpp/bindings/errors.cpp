// fastinfer._core: the translation of every C++ exception into fastinfer's
// exception classes. The classes are defined in Python (fastinfer/errors.py,
// so `import fastinfer` needs no native code); the core takes them from there
// when it loads and keeps them as module attributes too.
#include <cstring>
#include <string>

#include <opencv2/core.hpp>
#include <pybind11/pybind11.h>

#include "fastinfer/errors.hpp"
#include "common.hpp"

namespace fastinfer::bindings {

namespace {

PyObject* g_base_error = nullptr;
PyObject* g_model_load_error = nullptr;
PyObject* g_invalid_input_error = nullptr;
PyObject* g_backend_error = nullptr;
PyObject* g_backend_unavailable_error = nullptr;
PyObject* g_image_warning = nullptr;

PyObject* python_class(py::module_& m, const py::module_& errors, const char* name) {
  py::object type = errors.attr(name);
  m.add_object(name, type);  // the module keeps a reference for the process's lifetime
  return type.ptr();
}

// Messages may quote text from a damaged file (names, a runtime's errors): invalid UTF-8 is replaced, so the
// error arrives as itself rather than as a UnicodeDecodeError.
void set_error(PyObject* type, const char* what) {
  PyObject* message = PyUnicode_DecodeUTF8(what, static_cast<Py_ssize_t>(std::strlen(what)), "replace");
  if (!message) return;  // MemoryError is set
  PyErr_SetObject(type, message);
  Py_DECREF(message);
}

void register_exceptions(py::module_& m) {
  const py::module_ errors = py::module_::import("fastinfer.errors");
  g_base_error = python_class(m, errors, "FastInferError");
  g_model_load_error = python_class(m, errors, "ModelLoadError");
  g_invalid_input_error = python_class(m, errors, "InvalidInputError");
  g_backend_error = python_class(m, errors, "BackendError");
  g_backend_unavailable_error = python_class(m, errors, "BackendUnavailableError");
  g_image_warning = python_class(m, errors, "ImageWarning");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const InvalidInputError& e) {
      set_error(g_invalid_input_error, e.what());
    } catch (const ModelLoadError& e) {
      set_error(g_model_load_error, e.what());
    } catch (const BackendError& e) {
      set_error(g_backend_error, e.what());
    } catch (const BackendUnavailableError& e) {
      set_error(g_backend_unavailable_error, e.what());
    } catch (const Error& e) {
      set_error(g_base_error, e.what());
    } catch (const cv::Exception& e) {
      set_error(g_backend_error, (std::string("OpenCV: ") + e.what()).c_str());
    }
  });
}

}  // namespace

PyObject* image_warning() { return g_image_warning; }

void bind_errors(py::module_& m) { register_exceptions(m); }

}  // namespace fastinfer::bindings
