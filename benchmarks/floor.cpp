// The physical floor of a boot: raw libpq, connect, SELECT 1, disconnect.
#include <libpq-fe.h>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  PGconn* conn = PQconnectdb(argv[1]);
  if (PQstatus(conn) != CONNECTION_OK) return 1;
  PGresult* r = PQexec(conn, "SELECT 1");
  const bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
  PQclear(r);
  PQfinish(conn);
  return ok ? 0 : 1;
}
