/**
 * Test helpers of the embedding library, for `@semantik/shared/testing`: the tiny generated
 * model (fast, meaningless vectors) and where the real default model is cached for tests.
 */
export * from "./tiny_model.ts";
export * from "./test_models_dir.ts";
export * from "./tiny_cross_encoder.ts";
