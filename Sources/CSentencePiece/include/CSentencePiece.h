#pragma once
// extern "C" shim over libsentencepiece; see sentencepiece_shim.cpp.
