//! Compiles `proto/teehsm/v1/kms.proto` when the `proto` feature is on
//! (messages only, for the TA) or `grpc` (messages plus tonic client and
//! server, for the CA service and clients). protox parses the .proto in
//! Rust, so no `protoc` has to be installed. The encoded descriptor set is
//! written next to the generated code for gRPC server reflection.

fn main() {
    println!("cargo:rerun-if-changed=proto");
    #[cfg(feature = "proto")]
    if let Err(e) = proto::generate() {
        eprintln!("teehsm-wire: {e}");
        std::process::exit(1);
    }
}

#[cfg(feature = "proto")]
mod proto {
    use prost::Message;

    pub fn generate() -> Result<(), Box<dyn std::error::Error>> {
        let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
        let fds = protox::compile(["teehsm/v1/kms.proto"], ["proto"])?;
        std::fs::write(out.join("teehsm_v1_descriptor.bin"), fds.encode_to_vec())?;
        let grpc = cfg!(feature = "grpc");
        tonic_prost_build::configure().build_server(grpc).build_client(grpc).compile_fds(fds)?;
        Ok(())
    }
}
