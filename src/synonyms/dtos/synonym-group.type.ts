import { Field, InputType, ObjectType } from 'type-graphql';

@ObjectType({
  description: 'Words or phrases that keyword search treats as the same: each finds the others.',
})
export class SynonymGroup {
  @Field(() => [String], { description: 'The phrases as they were saved, in order.' })
  terms: string[];
}

@InputType()
export class SynonymGroupInput {
  @Field(() => [String], {
    description: '2..20 phrases of 1..6 words each, e.g. ["deadline", "cutoff date"].',
  })
  terms: string[];
}
