// The training loop on a toy data set: the loss falls, a resumed run equals an uninterrupted one,
// Ctrl-C saves and resumes, and bad options and checkpoints are refused with clear messages.
#include <filesystem>
#include <fstream>

#include "diffusion/checkpoint.hpp"
#include "diffusion/trainer.hpp"
#include "nn/safetensors.hpp"
#include "test_util.hpp"
#include "toy_training.hpp"

using namespace ddpm;
using test::toy_images;
namespace fs = std::filesystem;
using TempDir = test::TempDir;

using test::mean_of;
using test::toy_options;

TEST_SUITE("cpu") {

TEST_CASE("trainer loss falls on a toy data set") {
  TrainOptions o = toy_options();
  o.steps = 150;
  o.model.dropout = 0.0;
  TrainResult r = train(o, toy_images(16));
  REQUIRE(r.losses.size() == 150);
  const double first = mean_of(r.losses, 0, 20), last = mean_of(r.losses, 130, 150);
  INFO("mean loss of the first 20 steps ", first, ", of the last 20 ", last);
  CHECK(first > 0.5);        // an untrained network predicts eps ~ 0: loss ~ E[eps^2] = 1
  CHECK(last < 0.6 * first);
  CHECK(r.skipped_steps == 0);
}

TEST_CASE("trainer resume equals an uninterrupted run") {
  TempDir a("whole"), b("halves");
  TrainOptions o = toy_options();
  o.checkpoint_every = 6;
  o.out_dir = a.path.string();
  TrainResult whole = train(o, toy_images(12));

  o.out_dir = b.path.string();
  o.steps = 5;  // stop after 5, then continue to 12
  TrainResult first = train(o, toy_images(12));
  o.steps = 12;
  o.resume = true;
  TrainResult second = train(o, toy_images(12));
  REQUIRE(first.losses.size() == 5);
  REQUIRE(second.start_step == 5);
  REQUIRE(second.losses.size() == 7);
  for (size_t i = 0; i < 7; ++i) CHECK(second.losses[i] == whole.losses[5 + i]);  // bit for bit

  // Both runs end with the same weights, EMA, optimizer state and generator.
  SafetensorsFile sa = load_safetensors(a.file("state.safetensors")), sb = load_safetensors(b.file("state.safetensors"));
  REQUIRE(sa.tensors.size() == sb.tensors.size());
  for (const auto& [name, tensor] : sa.tensors) {
    INFO(name);
    test::check_close(sb.at(name), tensor, 0.0, 0.0);
  }
  CHECK(sa.metadata == sb.metadata);
  // The resumed log keeps its first 5 rows and continues: a header and 12 rows.
  std::ifstream log(b.file("log.csv"));
  int64_t lines = 0;
  for (std::string line; std::getline(log, line);) ++lines;
  CHECK(lines == 13);
}

TEST_CASE("trainer stops when asked and resumes from there") {
  TempDir d("stop");
  TrainOptions o = toy_options();
  o.out_dir = d.path.string();
  int polls = 0;
  o.stop_requested = [&polls] { return ++polls > 4; };
  TrainResult r = train(o, toy_images(8));
  CHECK(r.stopped_early);
  CHECK(r.end_step == 4);
  REQUIRE(fs::exists(d.file("state.safetensors")));
  REQUIRE(fs::exists(d.file("model.safetensors")));
  o.stop_requested = nullptr;
  o.resume = true;
  TrainResult rest = train(o, toy_images(8));
  CHECK(rest.start_step == 4);
  CHECK(rest.end_step == 12);
}

TEST_CASE("trainer refuses to resume with other settings or without a state") {
  TempDir d("mismatch");
  TrainOptions o = toy_options();
  o.steps = 2;
  o.out_dir = d.path.string();
  o.resume = true;
  test::check_throws_with([&] { train(o, toy_images(8)); }, "does not exist");
  o.resume = false;
  train(o, toy_images(8));
  o.resume = true;
  test::check_throws_with([&] { train(o, toy_images(8)); }, "already at step 2");
  o.steps = 4;
  o.batch_size = 4;
  test::check_throws_with([&] { train(o, toy_images(8)); }, "train.batch_size: 8 in the checkpoint, 4 now");
  o.batch_size = 8;
  o.model.ch = 16;
  test::check_throws_with([&] { train(o, toy_images(8)); }, "state.safetensors");
}

TEST_CASE("trainer refuses bad options") {
  TrainOptions o = toy_options();
  o.steps = 0;
  test::check_throws_with([&] { train(o, toy_images(8)); }, "steps is 0");
  o = toy_options();
  o.batch_size = -1;
  test::check_throws_with([&] { train(o, toy_images(8)); }, "batch size is -1");
  o = toy_options();
  test::check_throws_with([&] { train(o, zeros({4, 1, 16, 16})); }, "the model takes [N, 1, 8, 8]");
  o.lr = 0;
  test::check_throws_with([&] { train(o, toy_images(8)); }, "lr is 0");
}

TEST_CASE("model checkpoint round trip and malformed checkpoints") {
  TempDir d("ckpt");
  TrainOptions o = toy_options();
  o.steps = 3;
  o.out_dir = d.path.string();
  train(o, toy_images(8));
  const std::string path = d.file("model.safetensors");
  ModelCheckpoint ckpt = load_model_checkpoint(path);
  CHECK(ckpt.unet.ch == 8);
  CHECK(ckpt.unet.attn_resolutions == std::vector<int64_t>{4});
  CHECK(ckpt.diffusion.T == 100);
  CHECK(ckpt.metadata.at("step") == "3");
  CHECK(ckpt.metadata.at("weights") == "ema");
  std::shared_ptr<UNet> model = make_unet(ckpt, Device::cpu());
  CHECK_FALSE(model->is_training());
  // The same weights as the file holds, under the spec's names.
  SafetensorsFile file = load_safetensors(path);
  for (const auto& [name, tensor] : model->state_dict()) test::check_close(tensor, file.at(name), 0.0, 0.0);

  // A truncated copy, a training state and a file that is not there are each refused by name.
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string truncated = d.file("truncated.safetensors");
  std::ofstream(truncated, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size() / 2));
  test::check_throws_with([&] { load_model_checkpoint(truncated); }, "truncated.safetensors");
  test::check_throws_with([&] { load_model_checkpoint(d.file("state.safetensors")); }, "not a ddpmcpp-unet file");
  test::check_throws_with([&] { load_model_checkpoint(d.file("missing.safetensors")); }, "missing.safetensors");
  // Weights that do not fit the configuration in the metadata.
  StateDict weights = ckpt.weights;
  weights.pop_back();
  save_model_checkpoint(d.file("short.safetensors"), ckpt.unet, ckpt.diffusion, weights);
  test::check_throws_with([&] { load_model_checkpoint(d.file("short.safetensors")); }, "short.safetensors");
}

}  // TEST_SUITE
