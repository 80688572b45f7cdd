// A small, strict JSON reader and string quoting, for the subset a safetensors header uses: objects,
// arrays, strings and integers. The header comes from a file we do not trust, so anything outside
// that subset or malformed in any way (trailing garbage, duplicate keys, bad escapes, invalid UTF-8,
// numbers with a fraction or exponent, true/false/null, nesting deeper than kMaxDepth) is an error.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ddpm::json {

// A parsed JSON value. Only the field of its kind is filled.
struct Value {
  enum class Kind { Object, Array, String, Integer };
  Kind kind = Kind::Integer;
  std::vector<std::pair<std::string, Value>> members;  // Object: in file order, keys unique
  std::vector<Value> items;                            // Array
  std::string text;                                    // String: the decoded UTF-8 text
  int64_t integer = 0;                                 // Integer

  bool is_object() const { return kind == Kind::Object; }
  bool is_array() const { return kind == Kind::Array; }
  bool is_string() const { return kind == Kind::String; }
  bool is_integer() const { return kind == Kind::Integer; }
  // The member called `key` of an object, or null when there is none.
  const Value* find(const std::string& key) const;
};

// "object", "array", "string" or "integer", for messages.
const char* kind_name(Value::Kind kind);

// What parse() throws: "at byte 17: expected ':' after an object key".
class ParseError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Objects and arrays nest at most this deep (a safetensors header needs 3); deeper input is refused
// rather than risking the stack on "[[[[[...".
constexpr int kMaxDepth = 32;

// Parses `text` as exactly one JSON value; only whitespace may follow it. Throws ParseError.
Value parse(std::string_view text);

// `s` as a JSON string literal: quoted, with '"', '\' and control characters escaped. Other bytes
// are copied as they are, so `s` should be valid UTF-8 for the result to be valid JSON.
std::string quote(std::string_view s);

// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view s);

}  // namespace ddpm::json
