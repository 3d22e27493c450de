#include "fastinfer/segment.hpp"
