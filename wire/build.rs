//! Compiles `proto/teehsm/v1/kms.proto` and `proto/teehsm/fleet/v1/fleet.proto` when the `proto` feature is on
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
        let grpc = cfg!(feature = "grpc");
        // One descriptor set per served API, so each server's reflection
        // lists only its own service.
        for (file, descriptor) in
            [("teehsm/v1/kms.proto", "teehsm_v1_descriptor.bin"), ("teehsm/fleet/v1/fleet.proto", "teehsm_fleet_v1_descriptor.bin")]
        {
            let fds = protox::compile([file], ["proto"])?;
            std::fs::write(out.join(descriptor), fds.encode_to_vec())?;
            tonic_prost_build::configure().build_server(grpc).build_client(grpc).compile_fds(fds)?;
        }
        Ok(())
    }
}
