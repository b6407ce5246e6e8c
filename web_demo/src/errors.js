// Errors the page shows as a message instead of a result (never a label): each says what was
// wrong, with which file, and what to do.

/** An image that cannot be decoded or is outside what the card's preprocessing accepts. */
export class ImageError extends Error {
  constructor(message) {
    super(message);
    this.name = "ImageError";
  }
}

/** A model file without a usable skinedge model card, or one that does not fit its card. */
export class ModelError extends Error {
  constructor(message) {
    super(message);
    this.name = "ModelError";
  }
}
