// Everything in nn/ with one include: the differentiable layer ops, Module and the layers,
// initializers, optimizers, learning-rate schedules, the EMA and safetensors checkpoints.
#pragma once
#include "nn/ema.hpp"
#include "nn/functional.hpp"
#include "nn/init.hpp"
#include "nn/layers.hpp"
#include "nn/lr_schedule.hpp"
#include "nn/module.hpp"
#include "nn/optim.hpp"
#include "nn/safetensors.hpp"
