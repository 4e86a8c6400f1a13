#[derive(wick::Inputs)]
struct Settings {
    #[wick(slider, min = 0)]
    temperature: f64,
}

fn main() {}
