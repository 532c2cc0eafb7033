// libFuzzer target for the statement splitter. Properties:
//  1. never crashes, never hangs (libFuzzer's -timeout catches hangs);
//  2. on any input PostgreSQL's parser (libpg_query) splits, our boundaries
//     equal its boundaries — except COPY ... FROM stdin, which the parser
//     accepts as a statement but lockstep refuses on purpose.
#include <pg_query.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string>

#include "lockstep/sql/splitter.hpp"
#include "pg_query_oracle.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string sql(reinterpret_cast<const char*>(data), size);
  auto ours = lockstep::sql::split(sql);
  if (sql.find('\0') != std::string::npos) return 0;  // libpg_query reads C strings

  PgQuerySplitResult r = pg_query_split_with_parser(sql.c_str());
  const bool oracle_ok = r.error == nullptr;
  pg_query_free_split_result(r);
  if (!oracle_ok) return 0;

  if (!ours) {
    if (ours.error().message.find("COPY ... FROM stdin") != std::string::npos) return 0;
    std::fprintf(stderr, "splitter rejected input the parser accepts: %s\n", ours.error().message.c_str());
    std::abort();
  }
  const auto oracle = lockstep::test::oracle_split(sql);
  if (!oracle.ok || !oracle.by_parser) std::abort();
  if (oracle.boundaries.size() != ours.value().size()) {
    std::fprintf(stderr, "statement count differs: parser %zu, splitter %zu\n", oracle.boundaries.size(),
                 ours.value().size());
    std::abort();
  }
  for (std::size_t i = 0; i < oracle.boundaries.size(); ++i) {
    const auto& s = ours.value()[i];
    if (s.begin != oracle.boundaries[i].begin || s.terminator != oracle.boundaries[i].terminator) {
      std::fprintf(stderr, "statement %zu differs: parser [%zu,%zu), splitter [%zu,%zu)\n", i,
                   oracle.boundaries[i].begin, oracle.boundaries[i].terminator, s.begin, s.terminator);
      std::abort();
    }
  }
  return 0;
}
