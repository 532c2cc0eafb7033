// Public face of the database session that policies receive. The class lives
// in the libpqxx adapter so that no other header depends on libpqxx's API.
#pragma once

#include "lockstep/detail/base/pqxx_adapter.hpp"
