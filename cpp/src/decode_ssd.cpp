#include "fastinfer/decode_ssd.hpp"
