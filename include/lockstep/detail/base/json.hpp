// The engine's name for the public JSON writer (lockstep/json.hpp).
#pragma once

#include "lockstep/json.hpp"

namespace lockstep::detail {

using lockstep::append_json_string;
using lockstep::JsonObject;

}  // namespace lockstep::detail
