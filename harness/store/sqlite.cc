#include "harness/store/sqlite.h"

#include <sqlite3.h>

#include "core/errors.h"

namespace dsbench::store::sql {

Connection::Connection(const std::filesystem::path& path) : path_(path) {
  const int code = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                                   nullptr);
  if (code != SQLITE_OK) {
    const std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(code);
    sqlite3_close(db_);
    db_ = nullptr;
    throw core::RunError(path.string() + ": cannot open the run store: " + message);
  }
  // Writers wait for each other instead of failing with SQLITE_BUSY.
  sqlite3_busy_timeout(db_, 60000);
}

Connection::~Connection() { sqlite3_close(db_); }

void Connection::fail(const std::string& what, int code) const {
  const std::string detail = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(code);
  const core::Location where{path_.string(), 0, ""};
  if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) {
    throw core::InputError(where, "not a dsbench run store (SQLite says: " + detail + ")");
  }
  throw core::RunError(path_.string() + ": " + what + ": " + detail);
}

void Connection::exec(const std::string& sql) {
  char* error = nullptr;
  const int code = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
  if (code != SQLITE_OK) {
    const std::string message = error != nullptr ? error : sqlite3_errstr(code);
    sqlite3_free(error);
    const core::Location where{path_.string(), 0, ""};
    if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) {
      throw core::InputError(where, "not a dsbench run store (SQLite says: " + message + ")");
    }
    throw core::RunError(path_.string() + ": store statement failed (" + sql.substr(0, 60) + "): " + message);
  }
}

std::int64_t Connection::last_insert_id() const { return sqlite3_last_insert_rowid(db_); }
int Connection::changes() const { return sqlite3_changes(db_); }

Statement::Statement(const Connection& connection, std::string_view sql) : connection_(connection), sql_(sql) {
  const int code = sqlite3_prepare_v2(connection.handle(), sql_.c_str(), static_cast<int>(sql_.size()), &statement_,
                                      nullptr);
  if (code != SQLITE_OK) connection_.fail("cannot prepare '" + sql_.substr(0, 60) + "'", code);
}

Statement::~Statement() { sqlite3_finalize(statement_); }

namespace {
void check_bind(const Connection& connection, int code, const std::string& sql) {
  if (code != SQLITE_OK) connection.fail("cannot bind a value of '" + sql.substr(0, 60) + "'", code);
}
}  // namespace

Statement& Statement::bind(int index, std::int64_t value) {
  check_bind(connection_, sqlite3_bind_int64(statement_, index, value), sql_);
  return *this;
}
Statement& Statement::bind(int index, std::uint64_t value) {
  return bind(index, static_cast<std::int64_t>(value));
}
Statement& Statement::bind(int index, double value) {
  check_bind(connection_, sqlite3_bind_double(statement_, index, value), sql_);
  return *this;
}
Statement& Statement::bind(int index, const std::string& value) {
  check_bind(connection_,
             sqlite3_bind_text(statement_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT),
             sql_);
  return *this;
}
Statement& Statement::bind_blob(int index, const void* data, std::size_t bytes) {
  check_bind(connection_, sqlite3_bind_blob64(statement_, index, data, bytes, SQLITE_TRANSIENT), sql_);
  return *this;
}
Statement& Statement::bind_null(int index) {
  check_bind(connection_, sqlite3_bind_null(statement_, index), sql_);
  return *this;
}

bool Statement::step() {
  const int code = sqlite3_step(statement_);
  if (code == SQLITE_ROW) return true;
  if (code == SQLITE_DONE) return false;
  connection_.fail("store statement failed ('" + sql_.substr(0, 60) + "')", code);
}

void Statement::run() {
  while (step()) {
  }
}

void Statement::reset() {
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
}

std::int64_t Statement::int64(int column) const { return sqlite3_column_int64(statement_, column); }
std::uint64_t Statement::uint64(int column) const { return static_cast<std::uint64_t>(int64(column)); }
double Statement::real(int column) const { return sqlite3_column_double(statement_, column); }
std::string Statement::text(int column) const {
  const auto* data = sqlite3_column_text(statement_, column);
  const int bytes = sqlite3_column_bytes(statement_, column);
  return data == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(data), bytes);
}
std::vector<unsigned char> Statement::blob(int column) const {
  const auto* data = static_cast<const unsigned char*>(sqlite3_column_blob(statement_, column));
  const int bytes = sqlite3_column_bytes(statement_, column);
  return data == nullptr ? std::vector<unsigned char>() : std::vector<unsigned char>(data, data + bytes);
}
bool Statement::is_null(int column) const { return sqlite3_column_type(statement_, column) == SQLITE_NULL; }

Transaction::Transaction(Connection& connection) : connection_(connection) { connection_.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (!done_) {
    try {
      connection_.exec("ROLLBACK");
    } catch (...) {
      // Already rolled back by SQLite (e.g. after SQLITE_FULL); nothing more to undo.
    }
  }
}

void Transaction::commit() {
  connection_.exec("COMMIT");
  done_ = true;
}

}  // namespace dsbench::store::sql
