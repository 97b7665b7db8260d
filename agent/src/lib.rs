//! teehsm-agent: runs on every host next to the CA service (issue 6). For
//! now it holds the TEE detection library the agent and the TA's platform
//! selection use.

pub mod tee_detect;
