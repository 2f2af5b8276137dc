// SPDX-License-Identifier: MIT
//
// What a typed map accepts as key and value: trivially copyable types, copied as bytes, as BPF
// maps copy them.
#pragma once

#include <type_traits>

namespace xmaps {

template <class T>
concept MapKey = std::is_trivially_copyable_v<T> &&(sizeof(T) > 0);

template <class T>
concept MapValue = std::is_trivially_copyable_v<T> && std::is_nothrow_default_constructible_v<T>;

}  // namespace xmaps
