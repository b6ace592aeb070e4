export * from './image.ts';
export * from './stage.ts';
