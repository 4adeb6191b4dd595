// Tests of the text readers and importers (data/text_table, data/importers) on small files
// written here; the bit-exact check of the real imports is tests/python/test_measured_import.py.
#include <doctest/doctest.h>

#include <zlib.h>

#include <cmath>
#include <fstream>
#include <string>

#include "core/error.hpp"
#include "data/importers.hpp"
#include "data/text_table.hpp"
#include "tests/test_support.hpp"

using namespace memcarlo;
using namespace memcarlo::test;

namespace {
void write_gzip(const std::string& path, const std::string& text) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, text.data(), static_cast<unsigned>(text.size())) == static_cast<int>(text.size()));
  REQUIRE(gzclose(f) == Z_OK);
}
}  // namespace

TEST_CASE("gzip and plain text read alike, and a truncated gzip file is an error") {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 20000; ++i) text += std::to_string(i) + "\t" + std::to_string(0.5 * i) + "\r\n";
  dir.write("plain.tsv", text);
  write_gzip(dir.file("packed.tsv.gz"), text);
  const auto plain = read_text_lines(dir.file("plain.tsv"));
  const auto packed = read_text_lines(dir.file("packed.tsv.gz"));
  CHECK(plain.size() == 20000);
  CHECK(plain == packed);
  CHECK(plain[7] == "7\t3.500000");  // CR stripped

  // Drop the 8-byte gzip trailer and some data: zlib reports it only through gzerror.
  std::ifstream in(dir.file("packed.tsv.gz"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  dir.write("cut.tsv.gz", bytes.substr(0, bytes.size() - 20));
  const std::string message = message_of([&] { read_text_lines(dir.file("cut.tsv.gz")); });
  CHECK(contains(message, "cut.tsv.gz: truncated or corrupt gzip data"));
  CHECK(contains(message_of([&] { read_text_lines(dir.file("missing.tsv")); }), "missing.tsv: no such file"));
}

TEST_CASE("numbers parse strictly, with file and line in the message") {
  CHECK(parse_double("1.33E-05", "f", 1) == 1.33e-05);
  CHECK(parse_double("0.", "f", 1) == 0.0);
  CHECK(parse_integer("-42", "f", 1) == -42);
  CHECK(contains(message_of([] { parse_double("1.5x", "data.csv", 12); }), "data.csv: line 12: '1.5x' is not a number"));
  CHECK(contains(message_of([] { parse_integer("3.0", "data.tsv", 3); }), "'3.0' is not an integer"));
  CHECK(split_exact("a,,b,", ',') == std::vector<std::string_view>{"a", "", "b", ""});
  CHECK(split_numbers(" 1.0 ,\t2, 3 ") == std::vector<std::string_view>{"1.0", "2", "3"});
}

TEST_CASE("a Sandia lookup table is read as published, and malformed ones are refused") {
  TempDir dir;
  dir.write("ok.txt",
            "header text\n1e-5, 2e-5, 3e-5\n0. , 0.5 , 1.\n\n-1e-7,0,1e-7\n2e-7,3e-7,4e-7\n5e-7,6e-7,7e-7\n");
  const DgTableData t = read_sandia_dg_table(dir.file("ok.txt"), -1);
  CHECK(t.G_bins_S == std::vector<double>{1e-5, 2e-5, 3e-5});
  CHECK(t.cdf == std::vector<double>{0.0, 0.5, 1.0});
  CHECK(t.dG_S.shape == std::vector<std::size_t>{3, 3});
  CHECK(t.dG_S(2, 1) == 6e-7);
  CHECK(t.polarity == -1);
  dir.write("short.txt", "header\n1e-5, 2e-5\n0, 1\n\n1e-7,2e-7\n");
  CHECK(contains(message_of([&] { read_sandia_dg_table(dir.file("short.txt"), 1); }),
                 "dG has 1 rows, expected one per CDF point (2)"));
  dir.write("ragged.txt", "header\n1e-5, 2e-5\n0, 1\n\n1e-7,2e-7\n3e-7\n");
  CHECK(contains(message_of([&] { read_sandia_dg_table(dir.file("ragged.txt"), 1); }), "line 6: 1 values"));
}

TEST_CASE("importers refuse data without a licence and folders that are not devices") {
  TempDir dir;
  std::filesystem::create_directories(dir.path / "gong");
  dir.write("gong/gong_et_al.csv", "0.1,0.9\n0.2,0.8\n");
  CHECK(contains(message_of([&] { import_gong(dir.file("gong")); }), "refusing to import data without its licence"));
  dir.write("gong/LICENSE_source.txt", "MIT License\n");
  const MeasurementFile g = import_gong(dir.file("gong"));
  REQUIRE(g.sets.size() == 1);
  const auto& p = std::get<PulseTrainData>(g.sets[0].body);
  CHECK(p.G.shape == std::vector<std::size_t>{1, 2, 2});
  CHECK(p.G(0, 1, 1) == 0.8);
  CHECK(g.licence_text == "MIT License\n");

  std::filesystem::create_directories(dir.path / "taox" / "notes");
  dir.write("taox/LICENSE_source.txt", "BSD\n");
  CHECK(contains(message_of([&] { import_sandia_taox(dir.file("taox")); }), "sub-folder 'notes' is not a device number"));
}
