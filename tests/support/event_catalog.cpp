// Prints the events and fields the code defines (lockstep/events/catalog.hpp)
// as JSON, for check_event_catalog.py to compare with the schema and docs:
// {"boot": [["event", "string", true], ...], ...}
#include <cstdio>
#include <string>

#include "lockstep/events/catalog.hpp"
#include "lockstep/json.hpp"

int main() {
  std::string out = "{";
  for (const auto& e : lockstep::events::catalog()) {
    if (out.size() > 1) out += ",\n";
    lockstep::append_json_string(out, e.name);
    out += ":[";
    bool first = true;
    for (const auto& f : e.fields) {
      out += first ? "[" : ",[";
      first = false;
      lockstep::append_json_string(out, f.name);
      out += ',';
      lockstep::append_json_string(out, f.type);
      out += f.required ? ",true]" : ",false]";
    }
    out += ']';
  }
  out += "}\n";
  std::fputs(out.c_str(), stdout);
  return 0;
}
