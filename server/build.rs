//! Generates the gRPC V2 service (`proto/inference.proto`) with
//! protox, a protobuf compiler in Rust, so that building needs no `protoc`.

fn main() {
    println!("cargo:rerun-if-changed=proto/inference.proto");
    let descriptors =
        protox::compile(["inference.proto"], ["proto"]).expect("proto/inference.proto compiles");
    tonic_prost_build::configure()
        .build_client(false)
        .compile_fds(descriptors)
        .expect("the gRPC service generates");
}
