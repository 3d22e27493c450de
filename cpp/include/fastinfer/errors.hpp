// Exception hierarchy of the core. The bindings map each class to a Python
// exception of the same name (fastinfer.FastInferError and subclasses).
#pragma once

#include <stdexcept>
#include <string>

namespace fastinfer {

// Base of every error the core raises on purpose.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A model, cfg, weights or labels file cannot be read or does not make sense.
class ModelLoadError : public Error {
 public:
  using Error::Error;
};

// An argument or input (image, array, threshold) is not what the call needs.
class InvalidInputError : public Error {
 public:
  using Error::Error;
};

// A backend (OpenCV DNN, ...) failed while running a model.
class BackendError : public Error {
 public:
  using Error::Error;
};

// A backend or execution provider is not installed or too old.
class BackendUnavailableError : public Error {
 public:
  using Error::Error;
};

}  // namespace fastinfer
