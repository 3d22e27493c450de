#include "fastinfer/classify.hpp"
