//! From a decoded image to a model's input: a window of the image —
//! centred, a fraction of it (`crop_pct`, the TensorFlow and timm
//! evaluation crop), or all of it — resampled straight to the input size
//! with the filter the config names (`resample`, Pillow's); or a
//! shortest-edge resize then a centre crop, as transformers does them
//! (CLIP's, DINOv2's, and ConvNeXt's with its `crop_pct`); then rescaled
//! and normalised per channel.

use candle_core::{Device, Tensor};
use image::RgbImage;
use serde::Deserialize;

use super::resample::{Filter, resize_rgb};

/// The fields of a Hugging Face `preprocessor_config.json` that Wick
/// reads; the rest are ignored.
#[derive(Clone, Debug, Deserialize)]
pub struct PreprocessorConfig {
    #[serde(default = "yes")]
    pub do_resize: bool,
    pub size: Option<Size>,
    /// Pillow's resampling code: 0 nearest, 1 Lanczos, 2 bilinear, 3
    /// bicubic, 4 box, 5 Hamming.
    #[serde(default = "bilinear")]
    pub resample: u8,
    #[serde(default)]
    pub do_center_crop: Option<bool>,
    pub crop_size: Option<Size>,
    /// Keep this fraction of the shorter side, centred, then resize to
    /// `size` (TensorFlow's and timm's evaluation crop).
    pub crop_pct: Option<f64>,
    #[serde(default = "yes")]
    pub do_rescale: bool,
    #[serde(default = "one_255th")]
    pub rescale_factor: f64,
    #[serde(default = "yes")]
    pub do_normalize: bool,
    pub image_mean: Option<Channels>,
    pub image_std: Option<Channels>,
}

/// `{"height": h, "width": w}`, `{"shortest_edge": s}` or a number.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(untagged)]
pub enum Size {
    Square(u32),
    Exact { height: u32, width: u32 },
    ShortestEdge { shortest_edge: u32 },
}

/// One value per RGB channel, or one for all three.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(untagged)]
pub enum Channels {
    Each([f64; 3]),
    All(f64),
}

impl Channels {
    fn values(self) -> [f32; 3] {
        match self {
            Channels::Each(values) => values.map(|v| v as f32),
            Channels::All(value) => [value as f32; 3],
        }
    }
}

fn yes() -> bool {
    true
}

fn bilinear() -> u8 {
    2
}

fn one_255th() -> f64 {
    1.0 / 255.0
}

/// Which part of the image becomes the model's input.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Window {
    /// The whole image, squashed to the input size.
    Whole,
    /// A centred square of this fraction of the shorter side (the side is
    /// rounded down to whole pixels, as TensorFlow's evaluation crop).
    CentreFraction(f64),
    /// What resizing the shorter side to `edge` and cropping the centre
    /// (height, width) would keep.
    CentreCrop { edge: u32, height: u32, width: u32 },
}

/// How a decoded image becomes the model's input.
#[derive(Clone, Debug, PartialEq)]
pub struct Preprocess {
    pub height: u32,
    pub width: u32,
    window: Window,
    filter: Filter,
    /// Pixel values are multiplied by this, then normalised per channel.
    scale: f32,
    mean: [f32; 3],
    std: [f32; 3],
}

impl Preprocess {
    /// From a `preprocessor_config.json`; the message says what is missing
    /// or unsupported.
    pub fn from_config(config: &PreprocessorConfig) -> Result<Preprocess, String> {
        if !config.do_resize {
            return Err("do_resize = false is not supported: the model needs a fixed size".into());
        }
        let size = config.size.ok_or("`size` is missing")?;
        let crop = config.do_center_crop.unwrap_or(config.crop_size.is_some());
        let (height, width, window) = match (size, config.crop_pct, crop, config.crop_size) {
            (_, Some(pct), _, _) if !(pct > 0.0 && pct <= 1.0) => {
                return Err(format!("crop_pct must be in (0, 1], got {pct}"));
            }
            (Size::Square(side), Some(pct), _, _) => (side, side, Window::CentreFraction(pct)),
            // transformers' ConvNeXt (and PoolFormer) processors: below 384,
            // the shortest edge to int(edge / crop_pct), then the centre
            // edge × edge; from 384 on, the whole image squashed.
            (
                Size::ShortestEdge {
                    shortest_edge: side,
                },
                Some(pct),
                _,
                _,
            ) if side < 384 => (
                side,
                side,
                Window::CentreCrop {
                    edge: (f64::from(side) / pct) as u32,
                    height: side,
                    width: side,
                },
            ),
            (
                Size::ShortestEdge {
                    shortest_edge: side,
                },
                Some(_),
                _,
                _,
            ) => (side, side, Window::Whole),
            (Size::Exact { height, width }, Some(pct), _, _) if height == width => {
                (height, width, Window::CentreFraction(pct))
            }
            (Size::Exact { .. }, Some(_), _, _) => {
                return Err("crop_pct needs a square `size`".into());
            }
            (size, None, true, Some(crop)) => {
                let edge = match size {
                    Size::Square(side)
                    | Size::ShortestEdge {
                        shortest_edge: side,
                    } => side,
                    Size::Exact { height, width } => height.min(width),
                };
                let (height, width) = crop.height_width();
                (
                    height,
                    width,
                    Window::CentreCrop {
                        edge,
                        height,
                        width,
                    },
                )
            }
            (Size::ShortestEdge { .. }, None, _, _) => {
                return Err("size.shortest_edge needs crop_size (or crop_pct)".into());
            }
            (size, None, _, _) => {
                let (height, width) = size.height_width();
                (height, width, Window::Whole)
            }
        };
        if height == 0 || width == 0 || height > 4096 || width > 4096 {
            return Err(format!(
                "an input size of {width} × {height} is not supported"
            ));
        }
        let filter = Filter::from_code(config.resample)
            .ok_or_else(|| format!("unknown resample code {}", config.resample))?;
        let (mean, std) = if config.do_normalize {
            let mean = config.image_mean.map_or([0.5; 3], Channels::values);
            let std = config.image_std.map_or([0.5; 3], Channels::values);
            if std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
                return Err("image_std must be positive".into());
            }
            (mean, std)
        } else {
            ([0.0; 3], [1.0; 3])
        };
        Ok(Preprocess {
            height,
            width,
            window,
            filter,
            scale: if config.do_rescale {
                config.rescale_factor as f32
            } else {
                1.0
            },
            mean,
            std,
        })
    }

    /// The window of an image of this size that becomes the input:
    /// (left, top, width, height).
    fn window(&self, image_width: u32, image_height: u32) -> (f64, f64, f64, f64) {
        let (w, h) = (f64::from(image_width), f64::from(image_height));
        match self.window {
            Window::Whole => (0.0, 0.0, w, h),
            Window::CentreFraction(fraction) => {
                let shorter = image_width.min(image_height);
                let side = ((fraction * f64::from(shorter)) as u32).max(1);
                let left = (image_width - side).div_ceil(2);
                let top = (image_height - side).div_ceil(2);
                (
                    f64::from(left),
                    f64::from(top),
                    f64::from(side),
                    f64::from(side),
                )
            }
            Window::CentreCrop {
                edge,
                height,
                width,
            } => {
                let scale = w.min(h) / f64::from(edge);
                let (cw, ch) = (
                    (f64::from(width) * scale).min(w),
                    (f64::from(height) * scale).min(h),
                );
                ((w - cw) / 2.0, (h - ch) / 2.0, cw, ch)
            }
        }
    }

    /// The cropped and resized pixels, RGB, `height` × `width` × 3.
    pub fn resize(&self, image: &RgbImage) -> Vec<u8> {
        let (width, height) = (image.width() as usize, image.height() as usize);
        if let Some(resized) = self.resize_then_crop(image) {
            return resized;
        }
        resize_rgb(
            image.as_raw(),
            (width, height),
            self.window(image.width(), image.height()),
            (self.width as usize, self.height as usize),
            self.filter,
        )
    }

    /// A shortest-edge resize and then a centre crop, in two steps as
    /// transformers does them: its rounding of the resized size moves the
    /// crop by up to a pixel, which one resample of the window would not
    /// (a 1e-2 difference in a CLIP's scores on a small tower). `None` for
    /// the other windows, or a crop larger than the resized image.
    fn resize_then_crop(&self, image: &RgbImage) -> Option<Vec<u8>> {
        let Window::CentreCrop { edge, .. } = self.window else {
            return None;
        };
        let (w, h) = (image.width(), image.height());
        // transformers' get_resize_output_image_size: the long side is
        // int(edge × long / short).
        let long =
            |long: u32, short: u32| (f64::from(edge) * f64::from(long) / f64::from(short)) as u32;
        let (rw, rh) = if w <= h {
            (edge, long(h, w))
        } else {
            (long(w, h), edge)
        };
        if rw < self.width || rh < self.height {
            return None;
        }
        let resized = resize_rgb(
            image.as_raw(),
            (w as usize, h as usize),
            (0.0, 0.0, f64::from(w), f64::from(h)),
            (rw as usize, rh as usize),
            self.filter,
        );
        let (left, top) = ((rw - self.width) / 2, (rh - self.height) / 2);
        let row = rw as usize * 3;
        let mut cropped = Vec::with_capacity(self.width as usize * self.height as usize * 3);
        for y in top..top + self.height {
            let start = y as usize * row + left as usize * 3;
            cropped.extend_from_slice(&resized[start..start + self.width as usize * 3]);
        }
        Some(cropped)
    }

    /// Preprocessed images (each `apply`'s output) as one batch tensor
    /// (images, height, width, 3); an image of another size is an error.
    pub fn stack(&self, images: &[&[f32]], device: &Device) -> crate::error::Result<Tensor> {
        let (h, w) = (self.height as usize, self.width as usize);
        let mut batch = Vec::with_capacity(images.len() * h * w * 3);
        for image in images {
            if image.len() != h * w * 3 {
                return Err(crate::error::Error::Inference(format!(
                    "an image of {} values reached the network, which takes {h} × {w} × 3",
                    image.len()
                )));
            }
            batch.extend_from_slice(image);
        }
        Ok(Tensor::from_vec(batch, (images.len(), h, w, 3), device)?)
    }

    /// The model's input: `height` × `width` × 3 floats, channels-last.
    pub fn apply(&self, image: &RgbImage) -> Vec<f32> {
        let pixels = self.resize(image);
        let factors: [(f32, f32); 3] =
            std::array::from_fn(|c| (self.scale / self.std[c], self.mean[c] / self.std[c]));
        pixels
            .chunks_exact(3)
            .flat_map(|rgb| (0..3).map(move |c| f32::from(rgb[c]) * factors[c].0 - factors[c].1))
            .collect()
    }
}

impl Size {
    fn height_width(self) -> (u32, u32) {
        match self {
            Size::Square(side)
            | Size::ShortestEdge {
                shortest_edge: side,
            } => (side, side),
            Size::Exact { height, width } => (height, width),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: serde_json::Value) -> Preprocess {
        Preprocess::from_config(&serde_json::from_value(json).unwrap()).unwrap()
    }

    #[test]
    fn windows_follow_the_three_kinds_of_config() {
        // TensorFlow's evaluation crop: int(0.875 × 300) = 262, centred
        // with the odd pixel before ((451 - 262 + 1) / 2 = 95).
        let lite = config(serde_json::json!({
            "size": {"height": 224, "width": 224}, "crop_pct": 0.875, "resample": 3
        }));
        assert_eq!(lite.window(451, 300), (95.0, 19.0, 262.0, 262.0));
        // CLIP-style: shortest edge 256, centre crop 224 → 224/256 of 300.
        let clip = config(serde_json::json!({
            "size": {"shortest_edge": 256}, "crop_size": {"height": 224, "width": 224}
        }));
        assert_eq!(clip.window(400, 300), (68.75, 18.75, 262.5, 262.5));
        // ViT: the whole image squashed.
        let vit = config(serde_json::json!({"size": {"height": 32, "width": 48}}));
        assert_eq!((vit.height, vit.width), (32, 48));
        assert_eq!(vit.window(640, 480), (0.0, 0.0, 640.0, 480.0));
        for bad in [
            serde_json::json!({"size": {"shortest_edge": 224}}),
            serde_json::json!({"size": 224, "crop_pct": 1.5}),
            serde_json::json!({"size": 224, "resample": 9}),
            serde_json::json!({"crop_pct": 0.9}),
        ] {
            let parsed: PreprocessorConfig = serde_json::from_value(bad.clone()).unwrap();
            assert!(Preprocess::from_config(&parsed).is_err(), "{bad}");
        }
    }

    #[test]
    fn normalisation_maps_pixels_as_configured() {
        let pre = config(serde_json::json!({
            "size": 4, "do_rescale": false, "image_mean": 127.0, "image_std": 128.0
        }));
        let flat = RgbImage::from_pixel(8, 8, image::Rgb([255, 127, 0]));
        let input = pre.apply(&flat);
        assert_eq!(input.len(), 4 * 4 * 3);
        assert_eq!(&input[..3], &[1.0, 0.0, -127.0 / 128.0]);
        let hf = config(serde_json::json!({"size": 4}));
        let got = hf.apply(&flat);
        for (got, want) in got[..3].iter().zip([1.0, 127.0 / 127.5 - 1.0, -1.0]) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
    }
}
