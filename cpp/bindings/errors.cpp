// fastinfer._core: the exception classes (fastinfer.FastInferError and its
// subclasses, fastinfer.ImageWarning) and the translation of every C++
// exception into them.
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

PyObject* new_exception(py::module_& m, const char* name, PyObject* bases, const char* doc) {
  // Public under the package's name: fastinfer re-exports these classes.
  const std::string qualified = std::string("fastinfer.") + name;
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases, nullptr);
  if (!type) throw py::error_already_set();
  m.add_object(name, py::handle(type));  // the module keeps a reference
  return type;
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
  g_base_error = new_exception(m, "FastInferError", PyExc_Exception, "Base class of every fastinfer error.");
  g_model_load_error = new_exception(m, "ModelLoadError", g_base_error,
                                     "A model, cfg, weights or labels file cannot be used.");
  py::tuple invalid_bases = py::make_tuple(py::handle(g_base_error), py::handle(PyExc_ValueError));
  g_invalid_input_error = new_exception(m, "InvalidInputError", invalid_bases.ptr(),
                                        "An argument or input is not what the call needs.");
  g_backend_error = new_exception(m, "BackendError", g_base_error, "An inference backend failed.");
  g_backend_unavailable_error = new_exception(m, "BackendUnavailableError", g_base_error,
                                              "A backend or execution provider is not installed or too old.");
  g_image_warning = new_exception(m, "ImageWarning", PyExc_UserWarning,
                                  "An image file was read but is damaged (for example truncated).");
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
