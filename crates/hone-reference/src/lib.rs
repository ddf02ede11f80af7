//! Float reference of the hone maths (std). See the crate README.
pub mod nll;
