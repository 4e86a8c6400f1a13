//! Buffers that start on a cache line, for the CPU kernels: a vector load
//! or a tile row that straddles two lines costs two accesses.

/// `len` values from a 64-byte boundary: a `Vec` with slack and an offset.
pub struct Aligned<T> {
    data: Vec<T>,
    start: usize,
}

impl<T: Copy + Default> Aligned<T> {
    pub fn zeroed(len: usize) -> Aligned<T> {
        let size = std::mem::size_of::<T>();
        let data = vec![T::default(); len + 64 / size];
        let start = (64 - data.as_ptr() as usize % 64) % 64 / size;
        Aligned { data, start }
    }

    pub fn as_slice(&self) -> &[T] {
        &self.data[self.start..]
    }

    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.data[self.start..]
    }
}
